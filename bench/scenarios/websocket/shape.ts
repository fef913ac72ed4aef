import { type BenchStack, type StackStats, stackStats } from '../../lib/stack';

/** The shape of the WebSocket step's load: who subscribes to what, and how a delivery is keyed. */

export const SUBSCRIBERS = 100;
export const TYPES = 10;
export const BATCH = 10;
/** `connectionsPerPrincipal` is 20: 10 reader keys of 10 connections each, one subscriber of each type per key. */
export const PER_KEY = 10;
export const SLOW = SUBSCRIBERS; // the stalled subscriber's index
export const KEY_STRIDE = 128; // delivered-pair key: n * KEY_STRIDE + subscriber

export const typeName = (t: number) => `bench.t${t}`;
export const typeOfSubscriber = (i: number) => i % TYPES;

export interface WsStats {
  connections: number;
  posts: number;
  postsGone: number;
  closedSlow: number;
}
type Stats = StackStats & { webSocket?: WsStats };
export const wsStats = async (info: BenchStack['info']) => (await stackStats(info)) as Stats;
