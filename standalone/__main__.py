from standalone.launcher import main

main()
