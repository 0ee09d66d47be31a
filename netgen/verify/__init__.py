"""Checking a compiled spec against its paper: `reference` reads the paper's table (project data),
`table` compares it cell by cell, `render` turns the result into text for the command line."""
