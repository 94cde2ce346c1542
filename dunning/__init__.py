"""dunning: a lender's loan-collection playbook, run every day for every case."""
