import { describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/domain/admin';
import { api, eventually, principalStore } from './support';

interface EventPage {
  items: { id: string; type: string; source: string; occurredAt: string; timeKey?: unknown }[];
  nextCursor: string | null;
}

describe('GET /events (by type or source, newest first, paginated)', () => {
  it('lists a source’s events newest first across pages, and by type', async () => {
    const source = `list-${crypto.randomUUID().slice(0, 8)}`;
    const type = `list.t${crypto.randomUUID().slice(0, 6).replace(/-/g, '')}`;
    const base = Date.parse('2026-01-01T00:00:00Z');
    const events = Array.from({ length: 7 }, (_, i) => ({
      id: crypto.randomUUID(),
      type,
      source,
      occurredAt: new Date(base + i * 60_000).toISOString(),
      data: { i },
    }));
    const posted = await api('POST', '/events', { body: { events } });
    expect(posted.status).toBe(202);
    // The events' ids (owned by the poster, ADR 0011), in request order.
    const ids = (posted.body as { ids: string[] }).ids;
    await eventually(async () => {
      const r = await api('GET', `/events?source=${source}&limit=100`);
      return (r.body as EventPage).items.length === 7 ? true : undefined;
    });

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await api('GET', `/events?source=${source}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(r.status).toBe(200);
      const page = r.body as EventPage;
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((e) => e.id));
      for (const item of page.items) expect(item.timeKey).toBeUndefined();
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).toEqual([...ids].reverse());
    expect(pages).toBeGreaterThanOrEqual(3);

    const byType = await api(
      'GET',
      `/events?type=${type}&since=${events[2]?.occurredAt}&until=${events[4]?.occurredAt}`,
    );
    expect((byType.body as EventPage).items.map((e) => e.id)).toEqual([ids[4], ids[3], ids[2]]);
    // By type across pages: the cursor of the type index resumes it; no storage attribute leaks.
    const first = await api('GET', `/events?type=${type}&limit=4`);
    const firstPage = first.body as EventPage & { items: { typeKey?: unknown }[] };
    expect(firstPage.items.map((e) => e.id)).toEqual([ids[6], ids[5], ids[4], ids[3]]);
    for (const item of firstPage.items) expect(item.typeKey).toBeUndefined();
    const second = await api('GET', `/events?type=${type}&limit=4&cursor=${firstPage.nextCursor}`);
    expect(second.status).toBe(200);
    expect((second.body as EventPage).items.map((e) => e.id)).toEqual([ids[2], ids[1], ids[0]]);
    // A cursor of the source index does not resume a type query.
    const bySourcePage = (await api('GET', `/events?source=${source}&limit=2`)).body as EventPage;
    expect((await api('GET', `/events?type=${type}&cursor=${bySourcePage.nextCursor}`)).status).toBe(400);
  });

  it('device readings are listed by device, not by type: 400 with where to look', async () => {
    const r = await api('GET', '/events?type=device.telemetry');
    expect(r.status).toBe(400);
    expect((r.body as { message: string }).message).toMatch(/source=<device id>/);
  });

  it.each([
    ['neither type nor source', '/events'],
    ['both type and source', '/events?type=a.b&source=x'],
    ['a bad type', '/events?type=NotAType'],
    ['a limit over 100', '/events?source=x&limit=101'],
    ['a bad time', '/events?source=x&since=yesterday'],
    ['since after until', '/events?source=x&since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z'],
    ['a forged cursor', '/events?source=x&cursor=bm90LWpzb24'],
    ['an unknown parameter', '/events?source=x&sort=asc'],
  ])('400 for %s', async (_name, path) => {
    const r = await api('GET', path);
    expect(r.status).toBe(400);
    expect((r.body as { message: string }).message.length).toBeGreaterThan(0);
  });

  it('400 for a cursor of another query', async () => {
    const source = `cur-${crypto.randomUUID().slice(0, 8)}`;
    const events = [1, 2].map((i) => ({ type: 'cursor.test', source, data: { i } }));
    await api('POST', '/events', { body: { events } });
    const page = await eventually(async () => {
      const r = await api('GET', `/events?source=${source}&limit=1`);
      return (r.body as EventPage).nextCursor ? (r.body as EventPage) : undefined;
    });
    expect((await api('GET', `/events?source=other&cursor=${page.nextCursor}`)).status).toBe(400);
    // ...or of the same source with a time range the cursor lies outside, or a key of another shape.
    expect(
      (await api('GET', `/events?source=${source}&until=2000-01-01T00:00:00Z&cursor=${page.nextCursor}`)).status,
    ).toBe(400);
    const partial = Buffer.from(JSON.stringify({ source })).toString('base64url');
    expect((await api('GET', `/events?source=${source}&cursor=${partial}`)).status).toBe(400);
    expect((await api('GET', `/events?source=${source}&cursor=${page.nextCursor}`)).status).toBe(200);
  });
});

describe('GET /healthz', () => {
  it('gives versions to anyone allowed, dependency checks only to admins', async () => {
    const admin = await api('GET', '/healthz');
    expect(admin.status).toBe(200);
    expect(admin.body).toMatchObject({
      status: 'ok',
      version: expect.any(String),
      checks: [
        { name: 'eventStream', ok: true },
        { name: 'eventsTable', ok: true },
      ],
    });
    const { apiKey } = await createApiKey(principalStore(), {
      name: `hz-${crypto.randomUUID().slice(0, 8)}`,
      role: 'producer',
    });
    const producer = await api('GET', '/healthz', { key: apiKey });
    expect(producer.status).toBe(200);
    expect(producer.body).toMatchObject({ status: 'ok' });
    expect((producer.body as { checks?: unknown }).checks).toBeUndefined();
  });
});
