from servers.monitoring import main

main()
