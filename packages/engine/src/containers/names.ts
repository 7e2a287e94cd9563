import { randomInt } from 'node:crypto';

// Docker-style generated names (`adjective_scientist`); short lists, our own words.
const adjectives = [
  'brave',
  'calm',
  'clever',
  'eager',
  'gentle',
  'happy',
  'jolly',
  'keen',
  'lucid',
  'merry',
  'nimble',
  'proud',
  'quiet',
  'rapid',
  'serene',
  'sharp',
  'steady',
  'swift',
  'tidy',
  'vivid',
  'wise',
  'witty',
  'bold',
  'cool',
  'fervent',
  'hardy',
  'loyal',
  'modest',
  'patient',
  'zen',
];
const surnames = [
  'babbage',
  'bohr',
  'curie',
  'darwin',
  'dijkstra',
  'euler',
  'faraday',
  'fermat',
  'gauss',
  'hopper',
  'hypatia',
  'kepler',
  'knuth',
  'lamport',
  'liskov',
  'lovelace',
  'maxwell',
  'meitner',
  'newton',
  'noether',
  'pascal',
  'ritchie',
  'shannon',
  'thompson',
  'torvalds',
  'turing',
  'wozniak',
  'yalow',
  'zuse',
  'ramanujan',
];

export function generateName(taken: (name: string) => boolean): string {
  for (let attempt = 0; ; attempt++) {
    const base = `${adjectives[randomInt(adjectives.length)]}_${surnames[randomInt(surnames.length)]}`;
    const name = attempt < 10 ? base : `${base}${randomInt(1000)}`;
    if (!taken(name)) return name;
  }
}
