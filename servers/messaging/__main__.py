from servers.messaging import main

main()
