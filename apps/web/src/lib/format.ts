/** Sizes as the docker CLI prints them: decimal units for images and I/O, binary units for memory. */

export function formatBytes(bytes: number): string {
  return scaled(bytes, 1000, ['B', 'kB', 'MB', 'GB', 'TB'], (value, unit) =>
    value.toFixed(value < 10 && unit > 0 ? 1 : 0),
  );
}

export function formatBinaryBytes(bytes: number): string {
  return scaled(bytes, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB'], (value) =>
    Number.isInteger(value) ? String(value) : value.toFixed(1),
  );
}

function scaled(
  bytes: number,
  base: number,
  units: string[],
  digits: (value: number, unit: number) => string,
): string {
  let value = bytes;
  let unit = 0;
  while (value >= base && unit < units.length - 1) {
    value /= base;
    unit++;
  }
  return `${digits(value, unit)} ${units[unit]}`;
}
