// Package cmux, as the sandbox builds kwok: one port, served only to clients that complete a
// TLS handshake with a client certificate of the cluster's CA.
//
// kwok's server asks for two listeners: one for connections that begin with TLS (which it
// serves with its own TLS settings, accepting any client) and one for the rest (plain HTTP).
// Here the first yields nothing, and the second yields only connections on which this
// package has completed a TLS handshake that required and verified a client certificate:
// kwok's HTTP server then serves them as TLS connections, its handlers untouched.
//
// Configuration, from the environment the sandbox starts kwok with:
//
//	GITOPS_SANDBOX_KWOK_CLIENT_CA   the CA bundle that client certificates must chain to
//	GITOPS_SANDBOX_KWOK_TLS_CERT    the server's certificate
//	GITOPS_SANDBOX_KWOK_TLS_KEY     its private key
//
// Without them every connection is refused (closed at once): never served in the clear.
package cmux

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// ErrListenerClosed is returned by Accept once the listener is closed.
var ErrListenerClosed = errors.New("listener closed")

const handshakeTimeout = 10 * time.Second

// MuxListener accepts connections on one listener and hands out the authenticated ones.
type MuxListener struct {
	listener      net.Listener
	config        *tls.Config
	authenticated *queue
	unused        *queue
	start         sync.Once
}

// NewMuxListener serves the listener as described in the package comment.
func NewMuxListener(listener net.Listener) *MuxListener {
	config, err := serverConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kwok server: refusing every connection: %v\n", err)
	}
	return &MuxListener{
		listener:      listener,
		config:        config,
		authenticated: newQueue(listener.Addr()),
		unused:        newQueue(listener.Addr()),
	}
}

// MatchPrefix would hand out the connections that begin with one of the prefixes; here it
// hands out none (TLS is completed here, with client authentication, never by the caller).
func (m *MuxListener) MatchPrefix(_ ...string) (net.Listener, error) {
	m.start.Do(func() { go m.run() })
	return m.unused, nil
}

// Unmatched hands out the connections whose client presented a certificate of the CA.
func (m *MuxListener) Unmatched() (net.Listener, error) {
	m.start.Do(func() { go m.run() })
	return m.authenticated, nil
}

func (m *MuxListener) run() {
	for {
		conn, err := m.listener.Accept()
		if err != nil {
			m.authenticated.Close()
			m.unused.Close()
			return
		}
		go m.admit(conn)
	}
}

func (m *MuxListener) admit(conn net.Conn) {
	if m.config == nil {
		_ = conn.Close()
		return
	}
	secured := tls.Server(conn, m.config)
	_ = secured.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := secured.Handshake(); err != nil {
		_ = secured.Close()
		return
	}
	_ = secured.SetDeadline(time.Time{})
	if !m.authenticated.put(secured) {
		_ = secured.Close()
	}
}

func serverConfig() (*tls.Config, error) {
	caFile, certFile, keyFile := os.Getenv("GITOPS_SANDBOX_KWOK_CLIENT_CA"),
		os.Getenv("GITOPS_SANDBOX_KWOK_TLS_CERT"), os.Getenv("GITOPS_SANDBOX_KWOK_TLS_KEY")
	if caFile == "" || certFile == "" || keyFile == "" {
		return nil, errors.New("GITOPS_SANDBOX_KWOK_CLIENT_CA, _TLS_CERT and _TLS_KEY must all be set")
	}
	bundle, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		// HTTP/1.1 only: the HTTP server these connections go to does not speak HTTP/2 on them.
		NextProtos: []string{"http/1.1"},
	}, nil
}

// queue is a net.Listener fed by this package.
type queue struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newQueue(addr net.Addr) *queue {
	return &queue{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (q *queue) put(conn net.Conn) bool {
	select {
	case q.conns <- conn:
		return true
	case <-q.closed:
		return false
	}
}

func (q *queue) Accept() (net.Conn, error) {
	select {
	case conn := <-q.conns:
		return conn, nil
	case <-q.closed:
		return nil, ErrListenerClosed
	}
}

func (q *queue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

func (q *queue) Addr() net.Addr { return q.addr }
