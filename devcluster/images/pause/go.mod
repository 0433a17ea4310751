module local.invalid/kuscia-reconciler/pause

go 1.26
