package service

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// certStore holds the SIP TLS certificate; Reload swaps it without
// touching the listeners, so calls and connections go on.
type certStore struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func newCertStore(certFile, keyFile string) (*certStore, error) {
	c := &certStore{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the certificate and key again; on error the old pair stays.
func (c *certStore) Reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("sip.tls: load %s and %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&pair)
	return nil
}

// config is the server side TLS configuration: TLS 1.2 or newer, the
// certificate read at each handshake.
func (c *certStore) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cert.Load(), nil
		},
	}
}
