// Command coredns is CoreDNS with only the plugins the real node's Corefile uses:
// the node's DNS serves the cluster domain from the API server and has no way to
// forward a query anywhere (the forward plugin is not in the binary).
package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"

	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
