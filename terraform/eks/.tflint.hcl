# tflint with its built-in Terraform language rules only: the AWS ruleset is a plugin downloaded from
# GitHub, which CI here cannot reach. "local": follow our own module calls, not registry modules (those
# would need `init`).
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
