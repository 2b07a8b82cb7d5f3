from greenfield.cli.main import main

main()
