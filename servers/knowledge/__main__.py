from servers.knowledge import main

main()
