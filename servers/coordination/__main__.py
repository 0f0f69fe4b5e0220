from servers.coordination import main

main()
