// Package api serves vmrd's HTTP endpoints: /metrics, /healthz, /readyz
// and the client control API (/api/client/v2/); web assets later.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
	"vmrd/internal/api/web"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config builds a Server.
type Config struct {
	Listen   string
	Registry *prometheus.Registry
	// Ready reports whether vmrd takes calls (listeners up, not draining).
	Ready func() bool
	// Client serves the client control API under /api/client/ (a
	// ClientAPI's Handler); nil leaves it off.
	Client http.Handler
	// Media serves the WebRTC signaling WebSocket at
	// GET /api/client/v2/conferences/{number}/media; nil leaves it off.
	Media  http.Handler
	Logger *slog.Logger
}

// Server is the HTTP server.
type Server struct {
	cfg  Config
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// New builds the server.
func New(cfg Config) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if cfg.Ready != nil && !cfg.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if cfg.Client != nil {
		mux.Handle("/api/client/", cfg.Client)
	}
	if cfg.Media != nil {
		mux.Handle("GET "+ClientPrefix+"{number}/media", cfg.Media)
	}
	// The web page (its own files only; everything else under / is 404).
	// Not "GET /": that pattern would conflict with "/api/client/".
	mux.Handle("/", web.Handler())
	return &Server{cfg: cfg, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}, done: make(chan struct{})}
}

// Start binds the listener and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("http server", "err", err)
		}
	}()
	s.cfg.Logger.Info("http listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving and waits.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
