package collector

import "sync"

// Subscribe registers fn to run after every collection, once its snapshot is
// published (Generation has changed): on the goroutine that ran the
// collection (Run's loop), before the next collection starts. fn should be
// quick and must not call CollectOnce. The returned function cancels the
// subscription; calling it again does nothing.
//
// This is how consumers follow collections (the HTTP server re-renders its
// cached /metrics encodings there) without the collector knowing them.
func (c *Collector) Subscribe(fn func()) (cancel func()) {
	return c.subs.add(fn)
}

// subscribers are the functions run after each collection, in the order they
// subscribed.
type subscribers struct {
	mu     sync.Mutex
	nextID uint64
	list   []subscriber
}

type subscriber struct {
	id uint64
	fn func()
}

func (s *subscribers) add(fn func()) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID
	s.nextID++
	s.list = append(s.list, subscriber{id: id, fn: fn})
	var once sync.Once
	return func() { once.Do(func() { s.remove(id) }) }
}

func (s *subscribers) remove(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sub := range s.list {
		if sub.id == id {
			s.list = append(s.list[:i:i], s.list[i+1:]...)
			return
		}
	}
}

// notify runs the subscribers without holding the lock, so a subscriber may
// subscribe or cancel.
func (s *subscribers) notify() {
	s.mu.Lock()
	list := s.list
	s.mu.Unlock()
	for _, sub := range list {
		sub.fn()
	}
}
