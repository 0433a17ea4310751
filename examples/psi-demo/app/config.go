package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
)

func workingDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	return dir
}

// taskConfig is the file the AppImage's config template renders: every value
// is a JSON document carried as a JSON string, so it is parsed twice.
type taskConfig struct {
	TaskID          string `json:"task_id"`
	TaskInputConfig string `json:"task_input_config"`
	TaskClusterDef  string `json:"task_cluster_def"`
	AllocatedPorts  string `json:"allocated_ports"`
}

// clusterDefine is TASK_CLUSTER_DEFINE: every party's services and which
// party and endpoint this pod is.
type clusterDefine struct {
	Parties []struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Services []struct {
			PortName  string   `json:"portName"`
			Endpoints []string `json:"endpoints"`
		} `json:"services"`
	} `json:"parties"`
	SelfPartyIdx    int `json:"selfPartyIdx"`
	SelfEndpointIdx int `json:"selfEndpointIdx"`
}

type allocatedPorts struct {
	Ports []struct {
		Name     string `json:"name"`
		Port     int    `json:"port"`
		Scope    string `json:"scope"`
		Protocol string `json:"protocol"`
	} `json:"ports"`
}

// inputConfig is this demo's taskInputConfig: each party's set, by domain.
type inputConfig struct {
	PSIInputs map[string][]string `json:"psi_inputs"`
}

// session is everything one party needs to run the protocol.
type session struct {
	TaskID     string
	Self       string
	Peer       string
	ListenPort int
	PeerAddr   string
	Elements   []string
	Parties    []string
	Ports      map[string]int
	Cluster    clusterDefine
}

func loadSession(path, portName string) (*session, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the task config: %w", err)
	}
	var config taskConfig
	if err := json.Unmarshal(raw, &config); err != nil {
		return nil, fmt.Errorf("%s is not JSON: %w", path, err)
	}
	var cluster clusterDefine
	if err := json.Unmarshal([]byte(config.TaskClusterDef), &cluster); err != nil {
		return nil, fmt.Errorf("task_cluster_def in %s is not a JSON document: %w", path, err)
	}
	var ports allocatedPorts
	if err := json.Unmarshal([]byte(config.AllocatedPorts), &ports); err != nil {
		return nil, fmt.Errorf("allocated_ports in %s is not a JSON document: %w", path, err)
	}
	s := &session{TaskID: config.TaskID, Ports: map[string]int{}, Cluster: cluster}
	for _, p := range ports.Ports {
		s.Ports[p.Name] = p.Port
	}
	for _, p := range cluster.Parties {
		s.Parties = append(s.Parties, p.Name)
	}
	if cluster.SelfPartyIdx < 0 || cluster.SelfPartyIdx >= len(cluster.Parties) {
		return nil, fmt.Errorf("task_cluster_def: selfPartyIdx %d is not one of its %d parties",
			cluster.SelfPartyIdx, len(cluster.Parties))
	}
	s.Self = cluster.Parties[cluster.SelfPartyIdx].Name
	if portName == "" {
		return s, nil
	}
	if len(cluster.Parties) != 2 {
		return nil, fmt.Errorf("task_cluster_def lists %d parties; this protocol needs exactly 2",
			len(cluster.Parties))
	}
	peer := cluster.Parties[1-cluster.SelfPartyIdx]
	s.Peer = peer.Name
	for _, service := range peer.Services {
		if service.PortName == portName && len(service.Endpoints) > 0 {
			s.PeerAddr = service.Endpoints[0]
		}
	}
	if s.PeerAddr == "" {
		return nil, fmt.Errorf("task_cluster_def: party %s has no endpoint for port %q", peer.Name, portName)
	}
	if _, port, err := net.SplitHostPort(s.PeerAddr); err != nil || port == "" {
		return nil, fmt.Errorf("task_cluster_def: endpoint %q of party %s is not host:port", s.PeerAddr, peer.Name)
	}
	var ok bool
	if s.ListenPort, ok = s.Ports[portName]; !ok {
		return nil, fmt.Errorf("allocated_ports has no port %q", portName)
	}
	var input inputConfig
	if err := json.Unmarshal([]byte(config.TaskInputConfig), &input); err != nil {
		return nil, fmt.Errorf("task_input_config is not a JSON document: %w", err)
	}
	elements, ok := input.PSIInputs[s.Self]
	if !ok {
		return nil, fmt.Errorf("task_input_config: psi_inputs has no set for party %s", s.Self)
	}
	s.Elements = unique(elements)
	return s, nil
}

func unique(items []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, item := range items {
		if !seen[item] {
			seen[item] = true
			out = append(out, item)
		}
	}
	sort.Strings(out)
	return out
}

func (s *session) summary() map[string]any {
	return map[string]any{
		"task_id": s.TaskID, "self": s.Self, "parties": s.Parties, "ports": s.Ports,
		"cluster_define": s.Cluster, "working_dir": workingDir(),
	}
}
