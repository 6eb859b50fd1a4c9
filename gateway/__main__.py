"""``python -m gateway``: run the gateway until SIGTERM."""

from gateway.main import main

main()
