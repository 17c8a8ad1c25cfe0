package collector_test

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestSubscribersRunAfterEachPublishedCollection(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	var calls []string
	var seen []uint64
	cancelA := s.coll.Subscribe(func() {
		calls = append(calls, "a")
		seen = append(seen, s.coll.Generation())
	})
	cancelB := s.coll.Subscribe(func() { calls = append(calls, "b") })

	s.coll.CollectOnce(context.Background())
	s.coll.CollectOnce(context.Background())
	if want := []string{"a", "b", "a", "b"}; !slices.Equal(calls, want) {
		t.Fatalf("calls = %v, want %v (every collection, in subscription order)", calls, want)
	}
	// The snapshot is published before the subscribers run.
	if want := []uint64{1, 2}; !slices.Equal(seen, want) {
		t.Fatalf("generations seen by the subscriber = %v, want %v", seen, want)
	}

	cancelA()
	cancelA() // a second cancel does nothing
	s.coll.CollectOnce(context.Background())
	if want := []string{"a", "b", "a", "b", "b"}; !slices.Equal(calls, want) {
		t.Fatalf("after cancelling a: calls = %v, want %v", calls, want)
	}
	cancelB()
	s.coll.CollectOnce(context.Background())
	if len(calls) != 5 {
		t.Fatalf("a cancelled subscriber ran: %v", calls)
	}
}

func TestSubscriberMayCancelItselfDuringNotification(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	runs := 0
	var cancel func()
	cancel = s.coll.Subscribe(func() {
		runs++
		cancel()
	})
	s.coll.CollectOnce(context.Background())
	s.coll.CollectOnce(context.Background())
	if runs != 1 {
		t.Fatalf("self-cancelling subscriber ran %d times, want 1", runs)
	}
}

func TestRunNotifiesSubscribers(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	collected := make(chan uint64, 1)
	defer s.coll.Subscribe(func() {
		select {
		case collected <- s.coll.Generation():
		default:
		}
	})()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.coll.Run(ctx)
	}()
	select {
	case gen := <-collected:
		if gen != 1 {
			t.Errorf("first notification at generation %d, want 1", gen)
		}
	case <-time.After(30 * time.Second):
		t.Error("Run's first collection notified no subscriber")
	}
	cancel()
	<-done
}
