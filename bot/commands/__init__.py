"""`opsbot` subcommands that are more than a few lines: each module holds one."""
