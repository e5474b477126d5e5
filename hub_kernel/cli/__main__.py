from hub_kernel.cli.root import main

main()
