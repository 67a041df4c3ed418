"""Deployment: the local stack of plain processes, and files for compose and Kubernetes."""
