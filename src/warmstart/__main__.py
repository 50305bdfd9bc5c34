"""`python -m warmstart` runs the CLI."""

from warmstart.cli import main
from warmstart.training.distributed import exit_process

exit_process(main())
