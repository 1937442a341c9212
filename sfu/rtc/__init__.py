"""A participant's media: the publish half (receiving its tracks) and the subscribe half
(sending it everyone else's), each with its own peer connection. They know tracks by id and
source, not rooms or wire messages: their owner is told what happens through callbacks."""
