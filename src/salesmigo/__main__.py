from salesmigo.cli.main import main

main()
