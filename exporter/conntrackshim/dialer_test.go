package conntrack

import (
	"context"
	"errors"
	"net"
	"testing"
)

func TestDialUsesTheParentDialerWithTheName(t *testing.T) {
	refused := errors.New("refused by the parent")
	var gotName, gotAddr string
	dial := NewDialContextFunc(
		DialWithDialContextFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
			gotName, gotAddr = DialNameFromContext(ctx), network+"/"+addr
			return nil, refused
		}),
		DialWithTracing(),
		DialWithName("prometheus"),
	)
	if _, err := dial(context.Background(), "tcp", "127.0.0.1:1"); !errors.Is(err, refused) {
		t.Fatalf("dial error %v, want the parent's", err)
	}
	if gotName != "prometheus" || gotAddr != "tcp/127.0.0.1:1" {
		t.Fatalf("parent saw name %q, address %q", gotName, gotAddr)
	}
}

func TestDialConnectsWithTheDefaultDialer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		if c, err := lis.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := NewDialFunc(DialWithName("x"))("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
