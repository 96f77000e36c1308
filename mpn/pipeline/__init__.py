"""The pipeline's runner: a stage's command line, params and logging with one-line
errors (stage.py), the stage commands as dvc.yaml writes them (commands.py), and the
arithmetic pins every stage runs under (cpu.py).

Imports mpn.core; torch only where a stage asks for threads."""
