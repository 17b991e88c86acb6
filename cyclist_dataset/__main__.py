from cyclist_dataset.cli import main

main()
