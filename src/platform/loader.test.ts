import { loaderSet, type LoadersOf } from './loader.js';

describe('loaderSet', () => {
  const makers = {
    first: (services: { made: string[] }) => {
      services.made.push('first');
      return { name: 'first' };
    },
    second: (services: { made: string[] }, loaders: { readonly first: { name: string } }) => {
      services.made.push('second');
      return { name: 'second', sibling: loaders.first };
    },
  };
  const Loaders = loaderSet<{ made: string[] }, LoadersOf<typeof makers>>(makers);

  it('makes a loader only when it is first asked for, and once per set', () => {
    const services = { made: [] as string[] };
    const loaders = new Loaders(services);
    expect(services.made).toEqual([]);
    expect(loaders.first).toBe(loaders.first);
    expect(services.made).toEqual(['first']);
  });

  it('gives a loader its siblings, so that it can prime them', () => {
    const loaders = new Loaders({ made: [] });
    expect(loaders.second.sibling).toBe(loaders.first);
  });

  it('starts every set empty: nothing made for one request is seen by the next', () => {
    const services = { made: [] as string[] };
    const one = new Loaders(services);
    const two = new Loaders(services);
    expect(one.first).not.toBe(two.first);
    expect(services.made).toEqual(['first', 'first']);
  });
});
