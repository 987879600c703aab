/*
 * Recycling fixed-size records across threads: magazines over slabs.
 *
 * APC nodes (apcq.c) and completion packets (port.c) are allocated on one
 * thread and freed on another.  malloc and free across threads were
 * measured at 60% of one-way APC throughput, so records come from slabs
 * of APC__MAG and are never given back to malloc: each thread frees into
 * its free list; a full one (a magazine) goes whole to the pool's depot,
 * one lock round per APC__MAG records.  A thread whose allocation list
 * runs dry takes its own free list, else a magazine from the depot, else
 * a new slab.  The cost: a pool keeps the memory of its peak number of
 * records in use at once until the process ends.
 *
 * A thread that holds magazines gives them back when it ends: the first
 * time it takes from the depot or a slab, or fills a free list, it sets
 * the pool's thread key, whose destructor drains its cache.
 */
#include <stdlib.h>

#include "internal.h"

struct slab {
	struct slab *next; /* every slab ever made, so none looks leaked */
	max_align_t records[];
};

static void key_destructor(void *arg)
{
	struct apc__mag_cache *c = arg;

	apc__mag_drain(c);
	c->key_set = false; /* set again if a later destructor allocates */
}

static void watch(struct apc__mag_pool *p, struct apc__mag_cache *c)
{
	if (c->key_set)
		return;
	c->pool = p;
	apc__lock_take(&p->lock);
	if (!p->key_made && pthread_key_create(&p->key, key_destructor) == 0)
		p->key_made = true;
	apc__lock_give(&p->lock);
	if (!p->key_made)
		abort(); /* EAGAIN for keys: nothing can work then */
	pthread_setspecific(p->key, c);
	c->key_set = true;
}

static struct apc__mag_node *new_slab(struct apc__mag_pool *p)
{
	struct slab *sl = malloc(sizeof(*sl) + APC__MAG * p->size);
	char *r;

	if (!sl)
		return NULL;
	r = (char *)sl->records;
	for (unsigned i = 0; i + 1 < APC__MAG; i++)
		((struct apc__mag_node *)(r + i * p->size))->next =
			(struct apc__mag_node *)(r + (i + 1) * p->size);
	((struct apc__mag_node *)(r + (APC__MAG - 1) * p->size))->next = NULL;
	apc__lock_take(&p->lock);
	sl->next = p->slabs;
	p->slabs = sl;
	apc__lock_give(&p->lock);
	return (struct apc__mag_node *)r;
}

void *apc__mag_refill(struct apc__mag_pool *p, struct apc__mag_cache *c)
{
	struct apc__mag_node *n = c->free;

	if (n) {
		c->free = NULL;
		c->free_len = 0;
	} else {
		watch(p, c);
		apc__lock_take(&p->lock);
		n = p->depot;
		if (n)
			p->depot = n->chain;
		apc__lock_give(&p->lock);
		if (!n)
			n = new_slab(p);
		if (!n)
			return NULL;
	}
	c->alloc = n->next;
	return n;
}

/* Give a chain of free records to the depot as one magazine. */
static void depot_put(struct apc__mag_pool *p, struct apc__mag_node *chain)
{
	apc__lock_take(&p->lock);
	chain->chain = p->depot;
	p->depot = chain;
	apc__lock_give(&p->lock);
}

void apc__mag_flush(struct apc__mag_pool *p, struct apc__mag_cache *c)
{
	watch(p, c);
	depot_put(p, c->free);
	c->free = NULL;
	c->free_len = 0;
}

void apc__mag_drain(struct apc__mag_cache *c)
{
	if (!c->pool)
		return; /* never took nor gave a magazine: nothing held */
	if (c->alloc)
		depot_put(c->pool, c->alloc);
	if (c->free)
		depot_put(c->pool, c->free);
	c->alloc = c->free = NULL;
	c->free_len = 0;
}
