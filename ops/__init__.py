"""How a centre is installed and run: PostgreSQL, the Asterisk root, the processes."""
