module local.invalid/kuscia-reconciler/psi-demo

go 1.26
