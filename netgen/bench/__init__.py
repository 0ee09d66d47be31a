"""`netgen bench`: the generated model measured on this machine, backend by backend, batch by batch."""
