//! The library behind the kubectl-mp plugins.
