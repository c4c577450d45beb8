/**
 * The overview's world map: an SVG drawn on the server with d3-geo (Natural Earth projection)
 * from world-atlas's Natural Earth 1:110m countries (topojson-client's `feature`), each country
 * shaded by its requests (classes l1..l5 of dashboard.css), titled with its name and count, and
 * a link to the request log filtered by it. No script and no tiles: it works offline and with
 * JavaScript off. The projected paths never change, so they are computed once per process.
 *
 * world-atlas names countries by ISO 3166-1 numeric code; the store keeps alpha-2 (from the geo
 * database): the table below maps one to the other. Three shapes have no numeric code there:
 * Kosovo (XK, as geo databases write it), Somaliland (shaded as SO) and N. Cyprus (as CY).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { geoNaturalEarth1, geoPath } from 'd3-geo';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import { html, type Html } from './html.ts';
import { logHref, type LogQuery } from './links.ts';

/** ISO 3166-1 numeric -> alpha-2, for every country world-atlas's 110m file has. */
const NUMERIC_TO_ALPHA2: Record<string, string> = Object.fromEntries(
  `004AF 008AL 010AQ 012DZ 024AO 031AZ 032AR 036AU 040AT 044BS 050BD 051AM 056BE 064BT 068BO 070BA 072BW 076BR 084BZ 090SB 096BN
   100BG 104MM 108BI 112BY 116KH 120CM 124CA 140CF 144LK 148TD 152CL 156CN 158TW 170CO 178CG 180CD 188CR 191HR 192CU 196CY 203CZ
   204BJ 208DK 214DO 218EC 222SV 226GQ 231ET 232ER 233EE 238FK 242FJ 246FI 250FR 260TF 262DJ 266GA 268GE 270GM 275PS 276DE 288GH
   300GR 304GL 320GT 324GN 328GY 332HT 340HN 348HU 352IS 356IN 360ID 364IR 368IQ 372IE 376IL 380IT 384CI 388JM 392JP 398KZ 400JO
   404KE 408KP 410KR 414KW 417KG 418LA 422LB 426LS 428LV 430LR 434LY 440LT 442LU 450MG 454MW 458MY 466ML 478MR 484MX 496MN 498MD
   499ME 504MA 508MZ 512OM 516NA 524NP 528NL 540NC 548VU 554NZ 558NI 562NE 566NG 578NO 586PK 591PA 598PG 600PY 604PE 608PH 616PL
   620PT 624GW 626TL 630PR 634QA 642RO 643RU 646RW 682SA 686SN 688RS 694SL 703SK 704VN 705SI 706SO 710ZA 716ZW 724ES 728SS 729SD
   732EH 740SR 748SZ 752SE 756CH 760SY 762TJ 764TH 768TG 780TT 784AE 788TN 792TR 795TM 800UG 804UA 807MK 818EG 826GB 834TZ 840US
   854BF 858UY 860UZ 862VE 887YE 894ZM`
    .split(/\s+/)
    .filter(Boolean)
    .map((e) => [e.slice(0, 3), e.slice(3)]),
);
const NAMELESS_CODES: Record<string, string> = { Kosovo: 'XK', Somaliland: 'SO', 'N. Cyprus': 'CY' };

export const MAP_WIDTH = 960;
export const MAP_HEIGHT = 500;

/** One country's shape, projected. */
export interface CountryShape {
  /** ISO 3166-1 alpha-2, or '' when the shape has none. */
  code: string;
  name: string;
  /** SVG path data in the map's viewBox. */
  d: string;
}

let shapes: CountryShape[] | undefined;

/** The projected countries, computed on first use and kept (they never change). */
export function countryShapes(): CountryShape[] {
  if (shapes) return shapes;
  const require = createRequire(import.meta.url);
  const topology = JSON.parse(readFileSync(require.resolve('world-atlas/countries-110m.json'), 'utf8')) as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const countries = feature(topology, topology.objects.countries);
  const projection = geoNaturalEarth1().fitSize([MAP_WIDTH, MAP_HEIGHT], countries);
  const path = geoPath(projection).digits(1);
  shapes = countries.features
    .map((f) => {
      const name = String(f.properties?.name ?? '');
      const code = (f.id !== undefined && NUMERIC_TO_ALPHA2[String(f.id)]) || NAMELESS_CODES[name] || '';
      return { code, name, d: path(f) ?? '' };
    })
    .filter((s) => s.d !== '');
  return shapes;
}

/** The share of the busiest country's count each shade starts at (l5 down to l1). */
const SHADES = [0.6, 0.25, 0.08, 0.02, 0];

/**
 * The shade of a count: 0 none, 1 to 5 by its share of the busiest country's (l5 from 60%,
 * l4 from 25%, l3 from 8%, l2 from 2%, l1 any request at all).
 *
 * @example
 * shadeLevel(1000, 1000); // 5
 * shadeLevel(300, 1000);  // 4
 * shadeLevel(1, 1000);    // 1
 */
export function shadeLevel(count: number, max: number): number {
  if (count <= 0 || max <= 0) return 0;
  const share = count / max;
  return 5 - SHADES.findIndex((s) => share >= s);
}

/**
 * The map as SVG markup. `requests` maps alpha-2 codes (as stored) to counts; `filter` is
 * added to each country's log link (e.g. the period: { since: '24h' }).
 *
 * @example
 * worldMap(new Map([['FR', 120], ['US', 3400]]), { since: '24h' });
 * // <svg class="map" ...><a href="/requests?since=24h&amp;country=FR"><path class="country l3" d="..."><title>France (FR): 120 requests</title></path></a>...
 */
export function worldMap(requests: ReadonlyMap<string, number>, filter: LogQuery = {}): Html {
  const max = Math.max(0, ...requests.values());
  const count = (code: string) => (code ? (requests.get(code) ?? 0) : 0);
  return html`<svg class="map" viewBox="0 0 ${MAP_WIDTH} ${MAP_HEIGHT}" role="img" aria-label="Requests by country">${countryShapes().map((s) => {
    const n = count(s.code);
    const level = shadeLevel(n, max);
    const cls = level ? `country l${level}` : 'country';
    const title = html`<title>${s.name}${s.code ? ` (${s.code})` : ''}: ${n.toLocaleString('en')} request${n === 1 ? '' : 's'}</title>`;
    return s.code
      ? html`<a href="${logHref({ ...filter, country: s.code })}"><path class="${cls}" data-country="${s.code}" d="${s.d}">${title}</path></a>`
      : html`<path class="${cls}" d="${s.d}">${title}</path>`;
  })}</svg>`;
}
