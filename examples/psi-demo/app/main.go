// Command psi-demo is a two-party Diffie-Hellman private set intersection, a
// demonstration of what runs inside a KusciaTask: it reads the task config the
// AppImage mounts, finds its peer in TASK_CLUSTER_DEFINE, listens on its
// allocated port, exchanges blinded elements with the peer and prints the
// intersection. It is not SecretFlow and makes no security claim beyond the
// textbook protocol between honest-but-curious parties.
//
//	psi-demo run [-port psi] [-timeout 180s] CONFIG
//	psi-demo inspect CONFIG   (parse the config and print what it says)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"time"
)

func main() {
	log.SetOutput(os.Stdout)
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("psi-demo ")
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: psi-demo run|inspect [flags] CONFIG"))
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	portName := flags.String("port", "psi", "the allocated port to listen on, and the peer's to connect to")
	timeout := flags.Duration("timeout", 180*time.Second, "how long to wait for the peer")
	_ = flags.Parse(os.Args[2:])
	path := "./kuscia/task-config.conf"
	if flags.NArg() > 0 {
		path = flags.Arg(0)
	}
	switch os.Args[1] {
	case "inspect":
		s, err := loadSession(path, "")
		if err != nil {
			fail(err)
		}
		printJSON("CONFIG", s.summary())
	case "run":
		s, err := loadSession(path, *portName)
		if err != nil {
			fail(err)
		}
		found, err := run(s, time.Now().Add(*timeout))
		if err != nil {
			fail(err)
		}
		log.Printf("intersection with %s: %d of my %d elements", s.Peer, len(found), len(s.Elements))
		printJSON("PSI_RESULT", map[string]any{"party": s.Self, "peer": s.Peer, "intersection": found})
	default:
		fail(fmt.Errorf("unknown command %q (run or inspect)", os.Args[1]))
	}
}

func run(s *session, deadline time.Time) ([]string, error) {
	log.Printf("party %s of task %s: %d elements, peer %s at %s", s.Self, s.TaskID, len(s.Elements), s.Peer, s.PeerAddr)
	listener, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(s.ListenPort)))
	if err != nil {
		return nil, fmt.Errorf("listening on port %d: %w", s.ListenPort, err)
	}
	defer listener.Close()
	log.Printf("listening on :%d", s.ListenPort)
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	// The peer sees this party's blinded elements in a random order, so their
	// positions say nothing; the permutation stays here.
	order := rand.Perm(len(s.Elements))
	blinded := make([]*big.Int, len(order))
	for i, index := range order {
		blinded[i] = blind(hashToGroup(s.Elements[index]), secret)
	}
	type served struct {
		double []*big.Int
		err    error
	}
	answered := make(chan served, 1)
	go func() {
		double, err := serve(listener, s, secret, deadline)
		answered <- served{double, err}
	}()
	mine, err := ask(s, blinded, deadline)
	if err != nil {
		return nil, err
	}
	peer := <-answered
	if peer.err != nil {
		return nil, peer.err
	}
	theirs := map[string]bool{}
	for _, v := range peer.double {
		theirs[v.Text(16)] = true
	}
	found := []string{}
	for i, index := range order {
		if theirs[mine[i].Text(16)] {
			found = append(found, s.Elements[index])
		}
	}
	sort.Strings(found)
	return found, nil
}

func printJSON(tag string, value any) {
	body, err := json.Marshal(value)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%s %s\n", tag, body)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "psi-demo:", err)
	os.Exit(1)
}
