// A module of the Nubfile with a syntax error on line 3.
export const size = '20Gi';
export const volumes = [home, scratch;
