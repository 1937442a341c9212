// @ts-check
/**
 * The settings' device picker: a labelled select for the camera and one for the microphone,
 * filled from `enumerateDevices` (again whenever devices come and go), showing the device in
 * use. Choosing another asks the page to switch (`choose`); if it cannot, the select goes back.
 */

/**
 * @typedef {import('./signaling.js').Kind} Kind
 * @typedef {{deviceId: string, label: string}} Device
 * @typedef {(kind: Kind, deviceId: string) => Promise<boolean>} Choose switches to a device;
 *   false if it could not
 */

const NAMES = {video: 'Camera', audio: 'Microphone'};

export class DevicePicker {
  /** @type {Record<Kind, HTMLSelectElement>} */
  #selects;
  /** @type {Record<Kind, Device[]>} */
  #devices = {video: [], audio: []};
  /** @type {() => Partial<Record<Kind, string>>} the device id of each kind in use */
  #inUse = () => ({});

  /**
   * @param {{camera: HTMLSelectElement, microphone: HTMLSelectElement}} selects
   * @param {Choose} choose
   */
  constructor({camera, microphone}, choose) {
    this.#selects = {video: camera, audio: microphone};
    for (const kind of /** @type {Kind[]} */ (['video', 'audio'])) {
      const select = this.#selects[kind];
      select.disabled = true;
      select.addEventListener('change', async () => {
        select.disabled = true;
        const ok = await choose(kind, select.value).catch((err) => {
          console.warn(`cannot switch the ${kind} device`, err);
          return false;
        });
        await this.refresh(); // shows the device in use: the chosen one, or the old one again
        if (!ok) select.focus();
      });
    }
    navigator.mediaDevices?.addEventListener('devicechange', () => this.refresh());
  }

  /** Cameras and microphones, as listed now. */
  get devices() {
    return {cameras: [...this.#devices.video], microphones: [...this.#devices.audio]};
  }

  /**
   * Lists the devices again and selects those in use (`inUse`, remembered for the next refresh;
   * a kind with none in use is disabled: there is nothing to switch).
   * @param {() => Partial<Record<Kind, string>>} [inUse]
   */
  async refresh(inUse) {
    if (inUse) this.#inUse = inUse;
    /** @type {MediaDeviceInfo[]} */
    let all = [];
    try {
      all = await navigator.mediaDevices.enumerateDevices();
    } catch (err) {
      console.warn('enumerateDevices failed', err);
    }
    const current = this.#inUse();
    for (const kind of /** @type {Kind[]} */ (['video', 'audio'])) {
      const devices = all
        .filter((d) => d.kind === `${kind}input` && d.deviceId)
        .map((d, i) => ({deviceId: d.deviceId, label: d.label || `${NAMES[kind]} ${i + 1}`}));
      this.#devices[kind] = devices;
      const select = this.#selects[kind];
      select.replaceChildren(...devices.map((d) => new Option(d.label, d.deviceId)));
      const id = current[kind];
      if (id && !devices.some((d) => d.deviceId === id)) select.append(new Option('(in use)', id));
      if (id) select.value = id;
      select.disabled = !id || devices.length === 0;
    }
  }

  /** Nothing to choose (no call). */
  clear() {
    this.#inUse = () => ({});
    for (const select of Object.values(this.#selects)) {
      select.replaceChildren();
      select.disabled = true;
    }
  }
}
