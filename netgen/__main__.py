from netgen.cli import main

main()
