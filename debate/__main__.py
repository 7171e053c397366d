from debate.cli.app import main

main()
