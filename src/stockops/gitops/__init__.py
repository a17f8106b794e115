"""GitOps support: Argo CD health checks for our kinds, and the argocd-cm snippet generated from them."""
