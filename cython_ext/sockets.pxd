# The batched datagram calls of Linux (recvmmsg, sendmmsg, UDP segmentation) and the address
# structures, declared once for the node's datapath and the load tool's receive path.
from libc.stdint cimport uint8_t, uint16_t


cdef extern from "<sys/uio.h>":
    struct iovec:
        void* iov_base
        size_t iov_len


cdef extern from "<sys/socket.h>":
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr_storage:
        sa_family_t ss_family
    struct msghdr:
        void* msg_name
        socklen_t msg_namelen
        iovec* msg_iov
        size_t msg_iovlen
        void* msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    cmsghdr* CMSG_FIRSTHDR(msghdr* msg) nogil
    unsigned char* CMSG_DATA(cmsghdr* cmsg) nogil
    size_t CMSG_SPACE(size_t length) nogil
    size_t CMSG_LEN(size_t length) nogil
    int recvmmsg(int fd, mmsghdr* msgs, unsigned int n, int flags, void* timeout) nogil
    int sendmmsg(int fd, mmsghdr* msgs, unsigned int n, int flags) nogil
    ssize_t sendmsg(int fd, const msghdr* msg, int flags) nogil
    int MSG_DONTWAIT
    int MSG_TRUNC
    int AF_INET
    int AF_INET6


cdef extern from "<netinet/in.h>":
    struct in_addr:
        unsigned int s_addr
    struct sockaddr_in:
        sa_family_t sin_family
        uint16_t sin_port
        in_addr sin_addr
    struct in6_addr:
        uint8_t s6_addr[16]
    struct sockaddr_in6:
        sa_family_t sin6_family
        uint16_t sin6_port
        in6_addr sin6_addr
    uint16_t ntohs(uint16_t) nogil
    uint16_t htons(uint16_t) nogil


cdef extern from "<netinet/udp.h>":
    int SOL_UDP
    int UDP_SEGMENT  # generic segmentation offload: one send, many datagrams (Linux 4.18)
