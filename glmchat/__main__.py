from glmchat.cli import main

main()
