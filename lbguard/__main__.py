from lbguard.cli import main

main()
