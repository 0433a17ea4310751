package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net"
	"time"
)

// message is one line of JSON on the wire; values are hex-encoded group elements.
type message struct {
	From    string   `json:"from"`
	Blinded []string `json:"blinded,omitempty"`
	Double  []string `json:"double,omitempty"`
}

func encode(values []*big.Int) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = v.Text(16)
	}
	return out
}

func decode(values []string) ([]*big.Int, error) {
	out := make([]*big.Int, len(values))
	for i, text := range values {
		v, ok := new(big.Int).SetString(text, 16)
		if !ok || !inGroup(v) {
			return nil, fmt.Errorf("element %d from the peer is not in the group", i)
		}
		out[i] = v
	}
	return out, nil
}

func send(conn net.Conn, m message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = conn.Write(append(body, '\n'))
	return err
}

func receive(reader *bufio.Reader) (message, error) {
	var m message
	line, err := reader.ReadBytes('\n')
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(line, &m)
}

// serve answers the peer: it takes the peer's blinded set, blinds it again with
// this party's key and sends it back in the same order. It keeps the doubly
// blinded peer set (this party's view of the peer's elements). Connections
// that do not speak the protocol (a TCP probe) are dropped and waited past.
func serve(listener net.Listener, s *session, secret *big.Int, deadline time.Time) ([]*big.Int, error) {
	for {
		if tcp, ok := listener.(*net.TCPListener); ok {
			_ = tcp.SetDeadline(deadline)
		}
		conn, err := listener.Accept()
		if err != nil {
			return nil, fmt.Errorf("waiting for %s to connect: %w", s.Peer, err)
		}
		_ = conn.SetDeadline(deadline)
		request, err := receive(bufio.NewReader(conn))
		if err != nil || request.From != s.Peer || len(request.Blinded) == 0 {
			log.Printf("ignoring a connection from %s that is not %s's request", conn.RemoteAddr(), s.Peer)
			conn.Close()
			continue
		}
		values, err := decode(request.Blinded)
		if err != nil {
			conn.Close()
			return nil, err
		}
		double := make([]*big.Int, len(values))
		for i, v := range values {
			double[i] = blind(v, secret)
		}
		err = send(conn, message{From: s.Self, Double: encode(double)})
		conn.Close()
		log.Printf("answered %s's %d blinded elements", s.Peer, len(values))
		return double, err
	}
}

// ask sends this party's blinded set to the peer and returns it blinded again
// by the peer, in the order sent. It retries while the peer's name does not
// resolve yet or it does not listen yet.
func ask(s *session, blinded []*big.Int, deadline time.Time) ([]*big.Int, error) {
	var lastErr error
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if attempt > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		conn, err := net.DialTimeout("tcp", s.PeerAddr, 3*time.Second)
		if err != nil {
			if lastErr == nil || attempt%10 == 0 {
				log.Printf("connecting to %s at %s: %v (retrying)", s.Peer, s.PeerAddr, err)
			}
			lastErr = err
			continue
		}
		_ = conn.SetDeadline(deadline)
		if err := send(conn, message{From: s.Self, Blinded: encode(blinded)}); err != nil {
			conn.Close()
			lastErr = err
			continue
		}
		reply, err := receive(bufio.NewReader(conn))
		conn.Close()
		if err != nil {
			lastErr = err
			continue
		}
		if reply.From != s.Peer || len(reply.Double) != len(blinded) {
			return nil, errors.New("the peer's answer does not match the request")
		}
		log.Printf("%s answered at %s", s.Peer, s.PeerAddr)
		return decode(reply.Double)
	}
	return nil, fmt.Errorf("no answer from %s at %s before the deadline: %v", s.Peer, s.PeerAddr, lastErr)
}
