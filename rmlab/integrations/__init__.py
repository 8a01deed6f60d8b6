"""Adapters to other tools (optional extras). Nothing here is imported by ``import rmlab`` or by any other rmlab
module: ``rmlab.integrations.trl`` needs ``pip install 'rmlab[trl]'``."""
