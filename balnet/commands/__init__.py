"""CLI subcommands of ``balnet``: one module each (``NAME``, ``HELP``, ``add_arguments``, ``run``)."""
