/** The task names of an SVG's `<g id="node-<name>" class="node">` groups, in document order. */
export function svgNodeNames(svg: string): string[] {
	return [...svg.matchAll(/<g id="node-([^"]*)" class="node"/g)].map(match => match[1]!);
}

/** An SVG made by Graphviz, with its character references (`&#45;` for `-`) read back. */
export function decodeSvg(svg: string): string {
	return svg.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
}
