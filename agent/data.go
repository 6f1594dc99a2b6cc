package agent

import (
	"fmt"
	"net/http"

	"vcbench/workload"
)

// startData starts the network workload's raw TCP/UDP server at
// cfg.DataListen, or next to the HTTP address (workload.DataListenFor).
// The agent keeps serving without it, so that one busy port does not cost
// every other workload; GET /net/ports then says why it is missing.
func (s *Server) startData(cfg Config, httpAddr string) {
	addr := cfg.DataListen
	if addr == "" {
		var err error
		if addr, err = workload.DataListenFor(httpAddr); err != nil {
			s.dataErr = err
			return
		}
	}
	s.data, s.dataErr = workload.ListenData(addr)
	if s.dataErr != nil {
		fmt.Fprintf(s.cfg.Log, "vcbench-agent: %v (raw network figures unavailable)\n", s.dataErr)
	}
}

// stopData closes the data server, if it runs.
func (s *Server) stopData() error {
	if s.data == nil {
		return nil
	}
	return s.data.Close()
}

// handlePorts answers GET /net/ports: where the data server listens.
func (s *Server) handlePorts(w http.ResponseWriter, r *http.Request) {
	if s.data == nil {
		msg := "no data server"
		if s.dataErr != nil {
			msg = s.dataErr.Error()
		}
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	s.data.ServeHTTP(w, r)
}
